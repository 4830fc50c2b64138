impl :: bincode :: Encode for Consortium
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.orgs, encoder) ?; :: bincode ::
        Encode :: encode(&self.nodes, encoder) ?; :: bincode :: Encode ::
        encode(&self.retired_node_ids, encoder) ?; core :: result :: Result ::
        Ok(())
    }
}