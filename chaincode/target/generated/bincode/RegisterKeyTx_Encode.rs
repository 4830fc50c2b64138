impl :: bincode :: Encode for RegisterKeyTx
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.key, encoder) ?; :: bincode ::
        Encode :: encode(&self.role, encoder) ?; core :: result :: Result ::
        Ok(())
    }
}