impl :: bincode :: Encode for OrgRecord
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.name, encoder) ?; :: bincode ::
        Encode :: encode(&self.active_admins, encoder) ?; :: bincode :: Encode
        :: encode(&self.joined_at, encoder) ?; core :: result :: Result ::
        Ok(())
    }
}