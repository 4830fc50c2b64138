impl :: bincode :: Encode for KeyRecord
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.org, encoder) ?; :: bincode ::
        Encode :: encode(&self.role, encoder) ?; :: bincode :: Encode ::
        encode(&self.registered_at, encoder) ?; :: bincode :: Encode ::
        encode(&self.revoked_at, encoder) ?; core :: result :: Result ::
        Ok(())
    }
}